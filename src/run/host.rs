//! The throwaway host of `netlab run`, made by its PID 1 for itself: a network namespace
//! of its own (only `lo`, up) and a mount namespace in which
//! - nothing propagates back to the real host (`/` is private),
//! - /proc is the new PID namespace's and /sys the new network namespace's,
//! - /run is a tmpfs that shows the real /run's entries again (so /run/user/UID, a docker
//!   socket, systemd-resolved's resolv.conf stay where programs look), but not
//!   /run/netns or /run/netlab: the lab's namespaces and records are its own,
//! - /etc/netns is a tmpfs of its own; where /etc/netns does not exist (an unprivileged
//!   user cannot create it), /etc itself is an overlay of the real /etc with an upper
//!   layer on a tmpfs, which gets an empty netns directory: what is written to /etc there
//!   goes to the tmpfs, never to the real /etc. What is mounted on /etc's entries (a
//!   container's /etc/hosts and /etc/resolv.conf are bind mounts), which an overlay does
//!   not show, is bound again on top. Where the kernel has no overlay for us, /etc is a
//!   tmpfs that shows the real /etc's entries again instead, as /run does.
//!
//! "Shows again" is a bind mount per entry (a symlink is copied), made from a handle on
//! the directory taken before the tmpfs hid it. bench/run.sh measured both for /etc: the
//! overlay makes `netlab run` as fast as on a host with /etc/netns, where one bind mount
//! per entry (about 140 here) made it about 15 ms slower (a bigger mount table in every
//! mount namespace after it).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// The real /run's entries the throwaway does not show: netlab's and iproute2's state.
const RUN_PRIVATE: &[&str] = &["netns", "netlab"];

/// Makes this process's throwaway host: new network and mount namespaces, set up as the
/// module says. Call in the new PID namespace's PID 1.
pub fn prepare() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(|e| {
        let hint = if e == nix::errno::Errno::EPERM && in_user_namespace() {
            " (is kernel.apparmor_restrict_unprivileged_userns 1? set it to 0, or run netlab run as root)"
        } else {
            ""
        };
        format!("cannot make the throwaway's network and mount namespaces: {e}{hint}")
    })?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| format!("cannot make / private: {e}"))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(e) = mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>) {
        // A /proc with parts masked (inside some containers) cannot be mounted again
        // without privilege; the old one still shows every process, under its outer pid.
        eprintln!("netlab run: cannot mount a /proc of the throwaway host ({e}); keeping this one");
    }
    let _ = umount2("/sys", MntFlags::MNT_DETACH);
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .or_else(|_| mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::MS_RDONLY, None::<&str>))
    .map_err(|e| format!("cannot mount the throwaway's /sys: {e}"))?;
    let t = std::time::Instant::now();
    let shown = shadow(Path::new("/run"), RUN_PRIVATE).map_err(|e| format!("cannot make the throwaway's /run: {e}"))?;
    crate::timing::timing("throwaway /run", shown, t);
    let etc_netns = Path::new(crate::kernel::files::NETNS_ETC_DIR);
    let t = std::time::Instant::now();
    if etc_netns.is_dir() {
        tmpfs(etc_netns).map_err(|e| format!("cannot mount a tmpfs on {}: {e}", etc_netns.display()))?;
    } else {
        let shown = overlay_etc()
            .or_else(|_| shadow(Path::new("/etc"), &[]))
            .map_err(|e| format!("cannot make the throwaway's /etc: {e}"))?;
        std::fs::create_dir(etc_netns).map_err(|e| format!("cannot create {}: {e}", etc_netns.display()))?;
        crate::timing::timing("throwaway /etc", shown, t);
    }
    loopback_up().map_err(|e| format!("cannot bring lo up: {e}"))
}

/// Whether this process is in a user namespace of its own (not the machine's).
fn in_user_namespace() -> bool {
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

fn tmpfs(dir: &Path) -> io::Result<()> {
    Ok(mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=755"))?)
}

/// Mounts a tmpfs on `dir` that shows `dir`'s entries again (but not those in `except`);
/// how many it shows.
pub fn shadow(dir: &Path, except: &[&str]) -> io::Result<usize> {
    // A handle on the real directory, to reach its entries once the tmpfs hides them.
    let real = OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(dir)?;
    let mut entries: Vec<(OsString, std::fs::FileType)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !except.iter().any(|e| entry.file_name() == *e) {
            entries.push((entry.file_name(), entry.file_type()?));
        }
    }
    tmpfs(dir)?;
    let shown = entries.len();
    for (name, kind) in entries {
        let source = Path::new("/proc/self/fd").join(real.as_raw_fd().to_string()).join(&name);
        let target = dir.join(&name);
        let shown = if kind.is_symlink() {
            std::fs::read_link(&source).and_then(|to| std::os::unix::fs::symlink(to, &target))
        } else {
            if kind.is_dir() {
                std::fs::create_dir(&target)?;
            } else {
                File::create(&target)?;
            }
            mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(io::Error::from)
        };
        shown.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", target.display())))?;
    }
    Ok(shown)
}

/// An overlay on /etc, its upper layer on a tmpfs that nothing else shows; what is
/// mounted on /etc's entries is bound again on top. How many entries were bound again.
fn overlay_etc() -> io::Result<usize> {
    let mounted: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter_map(|p| p.strip_prefix("/etc/"))
        .map(|p| p.split('/').next().unwrap_or(p).replace("\\040", " "))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let real = OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open("/etc")?;
    // Mounted for as long as the overlay is made: then only the overlay holds it.
    let scratch = Path::new("/run/.netlab-etc");
    std::fs::create_dir(scratch)?;
    let made = (|| {
        tmpfs(scratch)?;
        std::fs::create_dir(scratch.join("upper"))?;
        std::fs::create_dir(scratch.join("work"))?;
        let options = "lowerdir=/etc,upperdir=/run/.netlab-etc/upper,workdir=/run/.netlab-etc/work";
        let mounted = mount(Some("overlay"), "/etc", Some("overlay"), MsFlags::empty(), Some(options));
        let _ = umount2(scratch, MntFlags::MNT_DETACH);
        Ok::<_, io::Error>(mounted?)
    })();
    let _ = std::fs::remove_dir(scratch);
    made?;
    for name in &mounted {
        let source = Path::new("/proc/self/fd").join(real.as_raw_fd().to_string()).join(name);
        let target = Path::new("/etc").join(name);
        mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
    }
    Ok(mounted.len())
}

/// `ip link set lo up`, with the SIOCSIFFLAGS ioctl (no netlink needed for one flag).
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket; ifreq is a C struct for which all zeroes is valid; the
    // ioctls read and write that struct only.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

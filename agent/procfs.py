"""What the agent reads from /proc on Linux, read directly: the figures psutil would give, the same way.

psutil with the modules it pulls in (subprocess, datetime, locale, glob, its named tuples)
is about a megabyte and a half of a long-running agent's memory, for a handful of /proc
files. On Linux the probes, the facts and the process check read those files here, with
psutil's own parsing rules (noted where they matter). Elsewhere each function asks psutil,
imported only there.
"""

from __future__ import annotations

import os
import re
import sys

LINUX = sys.platform.startswith("linux")
PROC = "/proc"
SECTOR_SIZE = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own size
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def cpu_times() -> list[tuple[str, dict[str, float]]]:
    """[(cpu number, {mode: seconds})] from /proc/stat's ``cpuN`` lines."""
    if not LINUX:
        import psutil

        return [(str(i), t._asdict()) for i, t in enumerate(psutil.cpu_times(percpu=True))]
    out: list[tuple[str, dict[str, float]]] = []
    for line in _read(f"{PROC}/stat").splitlines():
        if line.startswith(b"cpu") and line[3:4].isdigit():
            fields = line.split()
            # Older kernels have fewer modes: those present are kept.
            times = {m: int(v) / _TICKS for m, v in zip(CPU_MODES, fields[1:], strict=False)}
            out.append((fields[0][3:].decode(), times))
    return out


def boot_time() -> float:
    """When the host booted, seconds since the epoch."""
    if not LINUX:
        import psutil

        return float(psutil.boot_time())
    for line in _read(f"{PROC}/stat").splitlines():
        if line.startswith(b"btime"):
            return float(line.split()[1])
    raise OSError(f"no btime line in {PROC}/stat")


def pid_count() -> int:
    if not LINUX:
        import psutil

        return len(psutil.pids())
    return sum(1 for name in os.listdir(PROC) if name.isdigit())


def mem_total() -> int:
    """The host's memory in bytes."""
    if not LINUX:
        import psutil

        return int(psutil.virtual_memory().total)
    for line in _read(f"{PROC}/meminfo").splitlines():
        if line.startswith(b"MemTotal:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no MemTotal line in {PROC}/meminfo")


def disk_io() -> dict[str, dict[str, int]]:
    """{device: {psutil's field name: value}} for every line of /proc/diskstats, disks and partitions
    (psutil's perdisk=True, nowrap=False): bytes and milliseconds."""
    if not LINUX:
        return _psutil_counters("disk_io_counters", perdisk=True)
    out: dict[str, dict[str, int]] = {}
    for line in _read(f"{PROC}/diskstats").decode("utf-8", "surrogateescape").splitlines():
        f = line.split()
        n = len(f)
        if n == 14 or n >= 18:  # a disk (2.6+; 4.18 and 5.5 added fields at the end)
            name = f[2]
            reads, _, rsec, rtime, writes, _, wsec, wtime, _, busy = map(int, f[3:13])
        elif n == 15:  # Linux 2.4
            name = f[3]
            reads = int(f[2])
            _, rsec, rtime, writes, _, wsec, wtime, _, busy = map(int, f[4:13])
        elif n == 7:  # a partition on 2.6
            name = f[2]
            reads, rsec, writes, wsec = map(int, f[3:7])
            rtime = wtime = busy = 0
        else:
            raise ValueError(f"/proc/diskstats: cannot read the line {line!r}")
        out[name] = {"read_count": reads, "write_count": writes, "read_bytes": rsec * SECTOR_SIZE,
                     "write_bytes": wsec * SECTOR_SIZE, "read_time": rtime, "write_time": wtime,
                     "busy_time": busy}
    return out


NET_FIELDS = ("bytes_recv", "packets_recv", "errin", "dropin", "fifoin", "framein", "compressedin",
              "multicastin", "bytes_sent", "packets_sent", "errout", "dropout")


def net_io() -> dict[str, dict[str, int]]:
    """{interface: {psutil's field name: value}} from /proc/net/dev."""
    if not LINUX:
        return _psutil_counters("net_io_counters", pernic=True)
    out: dict[str, dict[str, int]] = {}
    for line in _read(f"{PROC}/net/dev").decode("utf-8", "surrogateescape").splitlines()[2:]:
        name, sep, rest = line.rpartition(":")
        if not sep:
            continue
        # 16 columns; the four after each direction's drop count are not reported.
        out[name.strip()] = dict(zip(NET_FIELDS, map(int, rest.split()), strict=False))
    return out


def _psutil_counters(name: str, **per: bool) -> dict[str, dict[str, int]]:
    import psutil

    # nowrap=False: the kernel's raw counters, as node_exporter reports them.
    found = getattr(psutil, name)(nowrap=False, **per) or {}
    return {device: c._asdict() for device, c in found.items()}


def _unescape(field: bytes) -> str:
    # getmntent's decoding: a space is \040 in /proc/self/mounts, a tab \011, a backslash \134.
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field).decode("utf-8", "surrogateescape")


def _root_device() -> str | None:
    """The real device behind /dev/root (psutil asks /proc/partitions, then /sys/dev/block)."""
    dev = os.stat("/").st_dev
    major, minor = os.major(dev), os.minor(dev)
    try:
        for line in _read(f"{PROC}/partitions").decode().splitlines()[2:]:
            f = line.split()
            if len(f) >= 4 and f[0] == str(major) and f[1] == str(minor):
                return f"/dev/{f[3]}"
    except OSError:
        pass
    try:
        for line in _read(f"/sys/dev/block/{major}:{minor}/uevent").decode().splitlines():
            if line.startswith("DEVNAME=") and line[8:]:
                return f"/dev/{line[8:]}"
    except OSError:
        pass
    return None


def mounts() -> list[tuple[str, str, str, str]]:
    """(device, mount point, fs type, options) of every mount, as psutil.disk_partitions(all=True)."""
    if not LINUX:
        import psutil

        return [(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(all=True)]
    path = os.path.realpath("/etc/mtab") if os.path.isfile("/etc/mtab") else f"{PROC}/self/mounts"
    out: list[tuple[str, str, str, str]] = []
    root: str | None = None
    for line in _read(path).splitlines():
        f = line.split()
        if len(f) < 4 or line.startswith(b"#"):
            continue
        device, mountpoint, fstype, opts = (_unescape(x) for x in f[:4])
        if device == "none":
            device = ""
        elif device in ("/dev/root", "rootfs"):
            root = root or _root_device() or device
            device = root
        out.append((device, mountpoint, fstype, opts))
    return out


def processes(want_cmdline: bool) -> list[tuple[str | None, list[str] | None]]:
    """(name, command line) of every process; None where it may not be read (another user's, a zombie).

    The name is psutil's: the kernel's (at most 15 characters) from /proc/PID/stat, or the
    command's base name when that starts with it; the command line is split psutil's way too.
    """
    if not LINUX:
        import psutil

        attrs = ["name", "cmdline"] if want_cmdline else ["name"]
        return [(p.info["name"], p.info.get("cmdline")) for p in psutil.process_iter(attrs)]
    out: list[tuple[str | None, list[str] | None]] = []
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        try:
            stat = _read(f"{PROC}/{pid}/stat")
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone meanwhile
        except OSError:
            out.append((None, None))
            continue
        name = stat[stat.find(b"(") + 1:stat.rfind(b")")].decode("utf-8", "surrogateescape")
        cmdline: list[str] | None = None
        if want_cmdline or len(name) >= 15:
            try:
                cmdline = _cmdline(_read(f"{PROC}/{pid}/cmdline").decode("utf-8", "surrogateescape"))
            except (FileNotFoundError, ProcessLookupError):
                continue
            except OSError:
                cmdline = None
        if len(name) >= 15 and cmdline:
            extended = os.path.basename(cmdline[0])
            if extended.startswith(name):
                name = extended
        out.append((name, cmdline))
    return out


def _cmdline(data: str) -> list[str]:
    if not data:
        return []  # a zombie, or a kernel thread
    # Arguments end in NUL; a process that rewrote its title (setproctitle) may use spaces.
    sep = "\x00" if data.endswith("\x00") else " "
    if data.endswith(sep):
        data = data[:-1]
    args = data.split(sep)
    if sep == "\x00" and len(args) == 1 and " " in data:
        args = data.split(" ")
    return args

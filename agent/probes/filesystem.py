"""Every real filesystem: node_filesystem_{size,free,avail}_bytes, files, files_free, readonly, device_error.

Mounts are chosen the way node_exporter's defaults choose them (mount-point and fs-type
exclusion regexes); sizes come from statvfs with the block size node_exporter uses, so
they agree to the byte.
"""

from __future__ import annotations

import os
import re
import threading

from agent.probes import Sample
from agent.procfs import mounts

# statvfs on these can hang for minutes when the server is gone; they are asked in a
# thread with a deadline, and a mount that missed it is skipped until its answer comes.
_NETWORK_FSTYPES = re.compile(r"^(nfs4?|cifs|smb3?|ceph|glusterfs|fuse\..*|9p|afs|lustre)$")


class FilesystemProbe:
    def __init__(self, mount_exclude: re.Pattern[str], fstype_exclude: re.Pattern[str],
                 timeout: float) -> None:
        self._mount_exclude = mount_exclude
        self._fstype_exclude = fstype_exclude
        self._timeout = timeout
        self._stuck: set[str] = set()
        self._lock = threading.Lock()

    def _statvfs_guarded(self, mountpoint: str) -> os.statvfs_result | None:
        with self._lock:
            if mountpoint in self._stuck:
                return None
        box: list[os.statvfs_result] = []

        def ask() -> None:
            try:
                box.append(os.statvfs(mountpoint))
            except OSError:
                pass
            finally:
                with self._lock:
                    self._stuck.discard(mountpoint)

        t = threading.Thread(target=ask, name=f"statvfs {mountpoint}", daemon=True)
        with self._lock:
            self._stuck.add(mountpoint)
        t.start()
        t.join(self._timeout)
        return box[0] if box else None

    def collect(self, out: list[Sample]) -> None:
        seen: set[tuple[str, str, str]] = set()
        for device, mp, fstype, opts in mounts():
            if self._mount_exclude.search(mp) or self._fstype_exclude.search(fstype):
                continue
            key = (device, fstype, mp)
            if key in seen:
                continue
            seen.add(key)
            lb = {"device": device, "fstype": fstype, "mountpoint": mp}
            readonly = 1.0 if "ro" in opts.split(",") else 0.0
            if _NETWORK_FSTYPES.match(fstype):
                st = self._statvfs_guarded(mp)
            else:
                try:
                    st = os.statvfs(mp)
                except OSError:
                    st = None
            out.append(Sample("node_filesystem_device_error", lb, 0.0 if st is not None else 1.0))
            out.append(Sample("node_filesystem_readonly", lb, readonly))
            if st is None:
                continue
            bsize = float(st.f_bsize)
            out.append(Sample("node_filesystem_size_bytes", lb, st.f_blocks * bsize))
            out.append(Sample("node_filesystem_free_bytes", lb, st.f_bfree * bsize))
            out.append(Sample("node_filesystem_avail_bytes", lb, st.f_bavail * bsize))
            out.append(Sample("node_filesystem_files", lb, float(st.f_files)))
            out.append(Sample("node_filesystem_files_free", lb, float(st.f_ffree)))

"""A throwaway one-node SLURM cluster on loopback, for tests that need a real scheduler.

Everything lives under one directory: its own munge key and socket, slurm.conf and gres.conf,
state, spool and logs, on free ports. It reads no system-wide SLURM or munge setup, so it can run
beside one (or beside another test run). The node declares two GPUs backed by ``/dev/null`` and
``/dev/zero``: jobs asking for ``--gpus`` are scheduled as on a GPU node and run on the CPU, two
at a time, as many as the CPUs of a two-core machine run side by side.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scontrol", "scancel", "srun")
GPU_FILES = ("/dev/null", "/dev/zero")
# Declared, not measured: nothing here enforces memory, and the profile asks what real nodes have.
MEMORY_MB = 65536
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def tool(name: str) -> str | None:
    """The path of a SLURM or munge program; daemons live in sbin, often off a user's PATH."""
    return shutil.which(name, path=SEARCH_PATH)


def unavailable() -> str | None:
    """Why no cluster can be started here, or None when it can."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if tool(name) is None]
    if missing:
        return f"SLURM/munge programs missing: {', '.join(missing)}"
    if os.geteuid() != 0:
        return "slurmd must run as root"
    return None


def free_ports(count: int) -> list[int]:
    """Distinct ports free on loopback (held open together so none is handed out twice)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


class SlurmCluster:
    """One controller and one node (this machine's CPUs, MEMORY_MB, the GPUs) on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.bin = root / "bin"
        self.env = {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "PATH": os.pathsep.join([str(self.bin), os.environ.get("PATH", "")]),
        }
        self.daemons: dict[str, subprocess.Popen] = {}

    def write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        r = self.root
        ctld_port, slurmd_port = free_ports(2)
        settings = {
            "ClusterName": "dblendtest",
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmctldPort": ctld_port,
            "SlurmdPort": slurmd_port,
            "SlurmUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "StateSaveLocation": r / "state",
            "SlurmdSpoolDir": r / "spool",
            "SlurmctldPidFile": r / "slurmctld.pid",
            "SlurmdPidFile": r / "slurmd.pid",
            "SlurmctldLogFile": r / "log" / "slurmctld.log",
            "SlurmdLogFile": r / "log" / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            # Lets the node declare MEMORY_MB whatever the machine has.
            "SlurmdParameters": "config_overrides",
            # Finished jobs stay visible to squeue (the executor's status command) and scontrol.
            "MinJobAge": 900,
            "ReturnToService": 2,
            "MpiDefault": "none",
            "GresTypes": "gpu",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()}"
            f" RealMemory={MEMORY_MB} Gres=gpu:{len(GPU_FILES)} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        # Without File= slurmd marks the node INVALID, and it refuses a device file named twice:
        # two distinct character devices stand in for the GPUs.
        (self.root / "gres.conf").write_text(
            "".join(f"NodeName={self.node} Name=gpu File={device}\n" for device in GPU_FILES)
        )
        # snakemake-executor-plugin-slurm-jobstep runs each rule with srun after dropping every
        # SLURM_* variable but the job's ids, SLURM_CONF included: srun would then look for
        # /etc/slurm/slurm.conf, which this cluster does not write.
        self.bin.mkdir(exist_ok=True)
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {tool("srun")} "$@"\n')
        srun.chmod(0o755)

    def command(self, *args: str, timeout: float = 30) -> str:
        """Run a SLURM client against this cluster and return its stdout."""
        result = subprocess.run(
            [tool(args[0]) or args[0], *args[1:]],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

    def logs(self) -> str:
        return "\n".join(
            f"== {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted((self.root / "log").iterdir())
        )

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline and all(d.poll() is None for d in self.daemons.values()):
            try:
                state = self.command("sinfo", "--noheader", "--format=%t", timeout=10).strip()
            except subprocess.CalledProcessError as error:
                state = error.stderr.strip()
            except subprocess.TimeoutExpired:
                state = "sinfo timed out"
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"SLURM node not idle (sinfo: {state!r})\n{self.logs()}")

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job --details`` as a dict: what the controller recorded and granted."""
        shown = self.command("scontrol", "show", "job", "--details", "--oneliner", job_id)
        fields = shown.split()
        return dict(field.split("=", 1) for field in fields if "=" in field)


@contextmanager
def slurm_cluster(root: Path) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd, wait for an idle node, and stop them all on exit."""
    cluster = SlurmCluster(root)
    cluster.write_config()
    munge = root / "munge"
    with ExitStack() as stack:

        def start(name: str, *args: str) -> None:
            log = stack.enter_context((root / "log" / f"{name}.out").open("w"))
            daemon = subprocess.Popen(
                [tool(name) or name, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            cluster.daemons[name] = daemon
            stack.callback(stop, daemon)

        start(
            "munged",
            "--foreground",
            "--force",
            f"--socket={cluster.munge_socket}",
            f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
        )
        for name in ("slurmctld", "slurmd"):
            start(name, "-D", "-f", str(cluster.conf))
        # Runs first on exit, while munged still answers.
        stack.callback(shutdown, cluster)
        cluster.wait_idle()
        yield cluster


def shutdown(cluster: SlurmCluster) -> None:
    """Cancel leftover jobs, ``scontrol shutdown``, and give slurmctld and slurmd time to end."""
    for args in (("scancel", "--partition=debug"), ("scontrol", "shutdown")):
        with suppress(subprocess.SubprocessError, OSError):
            cluster.command(*args, timeout=15)
    for name in ("slurmctld", "slurmd"):
        with suppress(subprocess.TimeoutExpired):
            cluster.daemons[name].wait(15)


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM a daemon still running (munged always), then SIGKILL it if it will not end."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""Launching a test script in two CPU processes on gloo through torchrun (the real launcher)."""

import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script, *args, nproc: int = 2, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``script args`` under ``torch.distributed.run`` with ``nproc`` processes on this host,
    one thread each, free of any rank variables the calling environment may carry."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script), *map(str, args)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "MASTER_", "LOCAL_RANK"))}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

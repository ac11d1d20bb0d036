"""The README's offline command blocks run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def offline_blocks():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    return [b for b in blocks if b.startswith("# offline")]


def test_readme_has_offline_blocks():
    assert len(offline_blocks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(offline_blocks())))
def test_readme_block_runs(index, tmp_path):
    block = offline_blocks()[index]
    # `source .venv/bin/activate` must find this interpreter's environment
    activate = tmp_path / ".venv" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "JSOC_EMAIL"}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "error" not in result.stderr.lower(), result.stderr[-3000:]

"""The package installs the way an application installs it: a wheel built
from this tree (`make wheel`'s command), installed into a fresh virtualenv
that sees nothing of the system's site-packages, then imported and used from
there against the test server. Guards against a package that only works from
the source tree (missing package data, a module left out of setup.py, an
extension that links only in place)."""
import os
import subprocess
import sys
import venv

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)

USE = r"""
import asyncio, os, sys
import govpool
assert os.path.realpath(govpool.__file__).startswith(os.path.realpath(sys.prefix)), govpool.__file__
async def main():
    pool = await govpool.create_pool(pool_size=1, max_overflow=0)
    try:
        rows = await pool.run("SELECT governance.agent_id()", agent_id="venv-agent")
        print(rows[0][0])
    finally:
        await pool.close()
asyncio.run(main())
"""


@pytest.mark.skipif(os.environ.get("GOVERNANCE_MODE") == "preload",
                    reason="packaging does not depend on the server's mode; run once, in the plain cluster")
def test_wheel_installs_into_a_fresh_virtualenv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(wheels), PKG],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    (wheel,) = wheels.glob("govpool-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = str(env_dir / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True)
    # Run from an empty directory so the source tree cannot shadow the install.
    out = subprocess.run([py, "-c", USE], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
    assert out.stdout.strip() == "venv-agent"

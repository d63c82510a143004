"""Build the govpool package (CPython extension on libgovpool).

By default links the in-tree static library (../build/libgovpool.a, from
`make -C client`); set GOVPOOL_PREFIX to link an installed libgovpool
instead (PREFIX/include, PREFIX/lib/libgovpool.so).
"""
import os
import subprocess

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
prefix = os.environ.get("GOVPOOL_PREFIX")


def pg(arg):
    pgc = os.environ.get("PG_CONFIG", "pg_config")
    try:
        return subprocess.check_output([pgc, arg], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


include_dirs = [d for d in [pg("--includedir")] if d]
library_dirs = [d for d in [pg("--libdir")] if d]
extra_objects = []
libraries = ["pq", "m"]
runtime_library_dirs = []
if prefix:
    include_dirs.insert(0, os.path.join(prefix, "include"))
    library_dirs.insert(0, os.path.join(prefix, "lib"))
    runtime_library_dirs.append(os.path.join(prefix, "lib"))
    libraries.insert(0, "govpool")
else:
    include_dirs.insert(0, os.path.join(here, "..", "include"))
    extra_objects.append(os.path.join(here, "..", "build", "libgovpool.a"))

setup(
    name="govpool",
    version="0.1.0",
    description="Governed PostgreSQL sessions for asyncio on libgovpool",
    packages=["govpool"],
    ext_modules=[
        Extension(
            "govpool._govpool",
            sources=["govpool/_govpool.c"],
            include_dirs=include_dirs,
            library_dirs=library_dirs,
            runtime_library_dirs=runtime_library_dirs,
            libraries=libraries,
            extra_objects=extra_objects,
            # build_ext rebuilds when one of these is newer than the module
            # (a libgovpool.a rebuilt from changed sources, say)
            depends=extra_objects + [os.path.join(include_dirs[0], "govpool.h")],
            extra_compile_args=["-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
                                "-Wno-cast-function-type", "-pthread"],
            extra_link_args=["-pthread"],
        )
    ],
)

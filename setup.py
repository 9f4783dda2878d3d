"""The optional C extensions (everything else is in pyproject.toml): the filters' recursion
(_biquads), the detector's and the preprocessor's single passes (_kernels) and the
classifier's tree walk (_trees). Each is optional: where it cannot be compiled the install
goes on, and numpy and scipy give the same results, more slowly."""
from setuptools import Extension, setup

setup(ext_modules=[Extension(f"twitchwatch.{name}", [f"src/twitchwatch/{name}.c"], optional=True,
                             depends=["src/twitchwatch/_isa.h"])
                   for name in ("_biquads", "_kernels", "_trees")])

"""Builds the compiled cores in place (``make install`` runs ``python setup.py build_ext --inplace``)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension("orderbook.matching._engine", ["orderbook/matching/_engine.pyx"], extra_compile_args=["-O3"]),
            Extension("orderbook.l2._fastbook", ["orderbook/l2/_fastbook.pyx"], extra_compile_args=["-O3"]),
        ],
        compiler_directives={"language_level": "3"},
        quiet=True,
    ),
)

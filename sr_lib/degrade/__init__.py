"""Degradations: MATLAB-exact bicubic resizing and blur kernels."""

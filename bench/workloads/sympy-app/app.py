# Benchmark workload "sympy": import sympy (thousands of modules) and do a little algebra;
# the ready line is the "sympy:" print.
import sympy

x = sympy.symbols("x")
integral = sympy.integrate(sympy.sin(x) ** 2, x)
print(f"sympy: {sympy.__version__} integral={integral}")

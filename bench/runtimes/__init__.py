"""twinbench.bench.runtimes"""

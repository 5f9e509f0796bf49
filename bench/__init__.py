"""twinbench.bench"""

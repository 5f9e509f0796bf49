"""twinbench.reports"""

"""twinbench.models"""

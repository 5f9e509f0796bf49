"""twinbench.exporters"""

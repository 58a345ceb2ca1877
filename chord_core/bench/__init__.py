"""Every `chord bench NAME` benchmark: tables with ratios against a baseline run in the same process."""

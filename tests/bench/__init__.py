"""`make bench`: the benchmark (not collected as tests). See docs/performance.md."""

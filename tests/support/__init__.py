"""The harness: what the tests stand on, imported by them, never collected as tests.

Servers started and stopped by pid, the checked test socket, a cuttable proxy,
factories. Fixtures that hand these to tests live in the conftest modules.
"""

"""Tests of the vendor-API emulator (``emulator/``)."""

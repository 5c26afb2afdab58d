"""Test support: real servers started on loopback ports, and the stack under test."""

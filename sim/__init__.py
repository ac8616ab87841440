"""The rotation and fault simulation (issue 7): see sim/README.md."""

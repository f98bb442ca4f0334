"""`python -m tailorlm ...` runs the `tailor` command (for an environment without its script,
e.g. the package on PYTHONPATH)."""

from tailorlm.cli import main

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks that the manual install line of docs/getting-started.md names every
Debian package ./dev installs (its PACKAGES list), so that following the page by
hand builds and tests the project as ./dev does.

    check_install_line.py SOURCE_ROOT

Prints the packages it compared; exits 1 naming the ones missing from the page
(or extra on it), 2 when either list cannot be found.
"""

import pathlib
import re
import sys


def dev_packages(root):
    text = (root / "dev").read_text()
    m = re.search(r"^PACKAGES=\(([^)]*)\)", text, re.M)
    if not m:
        sys.exit("check_install_line: no PACKAGES=(...) list in ./dev")
    return set(m.group(1).split())


def page_packages(root):
    lines = (root / "docs" / "getting-started.md").read_text().splitlines()
    for i, line in enumerate(lines):
        if "apt-get install" in line and line.lstrip().startswith("sudo apt-get install"):
            words = []
            while True:
                words += lines[i].split("#")[0].replace("\\", " ").split()
                if not lines[i].split("#")[0].rstrip().endswith("\\"):
                    break
                i += 1
            return set(words) - {"sudo", "apt-get", "install"}
    sys.exit("check_install_line: no `sudo apt-get install` line in docs/getting-started.md")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    wanted, shown = dev_packages(root), page_packages(root)
    print(f"./dev installs {len(wanted)} packages; the page's line names {len(shown)}")
    problems = []
    if wanted - shown:
        problems.append("missing from docs/getting-started.md's install line: " + " ".join(sorted(wanted - shown)))
    if shown - wanted:
        problems.append("on the page but not in ./dev's PACKAGES: " + " ".join(sorted(shown - wanted)))
    for p in problems:
        print("check_install_line: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

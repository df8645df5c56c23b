#!/usr/bin/env python3
"""Regenerates the checked-in fixtures in app/tests/fixtures/django/ with a real Django.

    pip install 'django==4.2.*'
    python3 app/tests/django_site/make_fixtures.py [/path/to/the/original/project]

From the refactored site's database (plus a group "Editors" with the lettings
permissions, DavWin in it and given profiles.view_profile, so that groups and
permissions are covered), with this test site's models:
  dumpdata-natural.json       dumpdata --natural-foreign --natural-primary
                              -e contenttypes -e auth.Permission -e sessions --indent 2
  dumpdata-natural-flat.json  the same without --indent
  dumpdata-plain.json         dumpdata --indent 2 (ids everywhere, Django's own models too)
With the original project's checkout given, from its own database and code:
  original-dumpdata.json      its `manage.py dumpdata --indent 2`
The tests compare this site's dumpdata with these byte for byte, and load them all.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "django")
NATURAL = ["--natural-foreign", "--natural-primary", "-e", "contenttypes", "-e", "auth.Permission", "-e", "sessions"]
EDITORS = """
from django.contrib.auth.models import Group, Permission, User
g = Group.objects.create(name="Editors")
g.permissions.set(Permission.objects.filter(content_type__app_label="lettings"))
u = User.objects.get(username="DavWin")
u.groups.add(g)
u.user_permissions.add(Permission.objects.get(codename="view_profile"))
"""


def manage(database, *args, cwd=HERE):
    env = dict(os.environ, DJANGO_DATABASE=database)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


def main():
    with tempfile.TemporaryDirectory() as tmp:
        database = os.path.join(tmp, "site.sqlite3")
        shutil.copy(os.path.join(FIXTURES, "oc-lettings-refactored.sqlite3"), database)
        manage(database, "shell", "-c", EDITORS)
        outputs = {
            "dumpdata-natural.json": manage(database, "dumpdata", *NATURAL, "--indent", "2"),
            "dumpdata-natural-flat.json": manage(database, "dumpdata", *NATURAL),
            "dumpdata-plain.json": manage(database, "dumpdata", "--indent", "2"),
        }
        if len(sys.argv) > 1:
            original = os.path.join(tmp, "original")
            shutil.copytree(sys.argv[1], original, ignore=shutil.ignore_patterns(".git"))
            shutil.copy(os.path.join(FIXTURES, "oc-lettings-site.sqlite3"), original)
            env = dict(os.environ, PYTHONWARNINGS="ignore")
            outputs["original-dumpdata.json"] = subprocess.run(
                [sys.executable, "manage.py", "dumpdata", "--indent", "2"], cwd=original, env=env,
                check=True, capture_output=True, text=True).stdout
        for name, text in outputs.items():
            with open(os.path.join(FIXTURES, name), "w", encoding="utf-8", newline="") as f:
                f.write(text)
            print(f"wrote {name}")


if __name__ == "__main__":
    main()

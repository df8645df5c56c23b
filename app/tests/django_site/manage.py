#!/usr/bin/env python3
"""The original project's models in a Django of today, for the fixture round trip.

The Rust tests run `manage.py migrate`, `loaddata` and `dumpdata` here against a
SQLite file named by DJANGO_DATABASE (see app/tests/it/fixtures.rs).
"""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

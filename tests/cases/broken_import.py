"""A user's case file that fails to import (bad-input fixture)."""

import this_package_does_not_exist  # noqa: F401

import sys

from .transfer import main

sys.exit(main())

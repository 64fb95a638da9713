import sys

from uvqc.cli import main

sys.exit(main())

import sys

from primps.stages.cli import main

sys.exit(main())

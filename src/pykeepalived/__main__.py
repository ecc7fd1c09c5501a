import sys

from pykeepalived.cli import main

sys.exit(main())

"""``python -m vigil.server [--listen localhost|all] [--port 8000] [--token T] ...``"""

import sys

from vigil.server.serve import main

if __name__ == "__main__":
    sys.exit(main())

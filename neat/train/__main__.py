import sys

from neat.engine.train import main

sys.exit(main())

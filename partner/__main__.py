from partner.cli import main

raise SystemExit(main())

from cli_recover.cli.main import main

raise SystemExit(main())

from chronorec.cli import main

main()

from cloudvm.cli import main

main()

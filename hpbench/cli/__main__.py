from hpbench.cli import main

main()

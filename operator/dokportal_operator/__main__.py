from dokportal_operator.cli import main

main()

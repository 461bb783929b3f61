from fsm_risk.cli import main

main()

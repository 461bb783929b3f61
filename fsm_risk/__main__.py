from fsm_risk.launch import main

main()

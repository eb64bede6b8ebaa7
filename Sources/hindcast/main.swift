import HindcastCLI

hindcastMain()

"""Object detection with R-FCN as Deep Feature Flow's N_task (Zhu et al. 2017 §3–4; Dai et al. 2016)."""

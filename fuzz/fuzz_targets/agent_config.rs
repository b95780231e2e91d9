//! Fuzz target `agent_config`: the agent's YAML loader, `datadog.yaml` (`AgentConfig::from_yaml`) and `conf.d` files (`read_check_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::agent::agent_config(data);
});

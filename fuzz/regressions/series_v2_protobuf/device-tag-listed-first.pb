
4
device:sda

devicesda
i@

r(
nu
n
// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-plan-memory))' --verify-diagnostics

func.func @dynamic(%n: index) {
  // expected-error @+1 {{kiln-plan-memory needs static, identity-layout allocations in the entry block}}
  %a = memref.alloc(%n) : memref<?xf32>
  return
}

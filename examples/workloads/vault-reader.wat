;; vault-reader: prints a data subject's records for one purpose, from the vault.
;;   argv: vault-reader SUBJECT PURPOSE
;; It calls the keep's one host call beyond WASI, elsewhere.vault_read (docs/vault.md,
;; "From a keep"), which answers only for a purpose the deployment declared, and only to an
;; attested keep. Each record is printed on its own line. Exit codes: 0 printed, 2 usage,
;; 3 refused by the control plane, 4 control plane unavailable, 5 bad arguments, 6 too big.
;; Build: elsewhere keep build examples/workloads/vault-reader.wat
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "elsewhere" "vault_read" (func $vault_read (param i32 i32 i32 i32 i32 i32) (result i32)))
  ;; 0 argc · 4 argv size · 8 iovec · 16 written · 32 argv pointers · 128 argv strings (1 KiB)
  ;; 1200 messages · 4096 the answer (60 KiB)
  (memory (export "memory") 1)
  (data (i32.const 1200) "\n")
  (data (i32.const 1208) "usage: vault-reader SUBJECT PURPOSE\n")
  (data (i32.const 1248) "vault_read refused\n")
  (data (i32.const 1272) "vault_read unavailable\n")

  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 8) (i32.const 1) (i32.const 16))))

  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $fail (param $ptr i32) (param $len i32) (param $code i32)
    (call $write (i32.const 2) (local.get $ptr) (local.get $len))
    (call $proc_exit (local.get $code)))

  (func (export "_start")
    (local $subject i32) (local $purpose i32) (local $n i32) (local $at i32) (local $len i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.or (i32.ne (i32.load (i32.const 0)) (i32.const 3))
                (i32.gt_u (i32.load (i32.const 4)) (i32.const 1024)))
      (then (call $fail (i32.const 1208) (i32.const 36) (i32.const 2))))
    (drop (call $args_get (i32.const 32) (i32.const 128)))
    (local.set $subject (i32.load (i32.const 36)))
    (local.set $purpose (i32.load (i32.const 40)))
    (local.set $n
      (call $vault_read
        (local.get $subject) (call $strlen (local.get $subject))
        (local.get $purpose) (call $strlen (local.get $purpose))
        (i32.const 4096) (i32.const 61440)))
    (if (i32.eq (local.get $n) (i32.const -1))
      (then (call $fail (i32.const 1248) (i32.const 19) (i32.const 3))))
    (if (i32.eq (local.get $n) (i32.const -2))
      (then (call $fail (i32.const 1272) (i32.const 23) (i32.const 4))))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $proc_exit (i32.const 5))))
    (if (i32.gt_s (local.get $n) (i32.const 61440)) (then (call $proc_exit (i32.const 6))))
    ;; each record: a 4-byte little-endian length, then its bytes
    (local.set $at (i32.const 4096))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (i32.add (i32.const 4096) (local.get $n))))
        (local.set $len (i32.load (local.get $at)))
        (call $write (i32.const 1) (i32.add (local.get $at) (i32.const 4)) (local.get $len))
        (call $write (i32.const 1) (i32.const 1200) (i32.const 1))
        (local.set $at (i32.add (local.get $at) (i32.add (i32.const 4) (local.get $len))))
        (br $next))))
)

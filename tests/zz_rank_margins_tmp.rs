use edgerec::rank::*;
fn simulate(policy: ExplorePolicy, ctr: &[f64], rounds: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut policy_rng = ExploreRng::new(seed);
    let mut world = ExploreRng::new(seed ^ 0x5eed);
    let mut stats = vec![ArmStats::default(); ctr.len()];
    let mut late = vec![0u32; ctr.len()];
    for round in 0..rounds {
        let values = policy.arm_values(&stats, &mut policy_rng).unwrap();
        let arm = (0..ctr.len()).fold(0, |b, a| if values[a] > values[b] { a } else { b });
        stats[arm].exposures += 1;
        if world.next_f64() < ctr[arm] { stats[arm].clicks += 1; }
        if round >= rounds / 2 { late[arm] += 1; }
    }
    (stats.iter().map(|s| s.exposures).collect(), late)
}
#[test]
fn margins() {
    for policy in [ExplorePolicy::THOMPSON, ExplorePolicy::UCB1] {
        let mut min_share: f64 = 1.0; let mut mono = true; let mut minpull = u32::MAX;
        for seed in 0..200u64 {
            let (pulls, late) = simulate(policy, &[0.1,0.3,0.5], 3000, seed);
            min_share = min_share.min(late[2] as f64 / 1500.0);
            mono &= pulls[0] <= pulls[1] && pulls[1] <= pulls[2];
            minpull = minpull.min(*pulls.iter().min().unwrap());
        }
        println!("{policy:?}: min share {min_share} monotone {mono} min pulls {minpull}");
    }
    let best = ArmStats::new(1000, 10_000); let known = ArmStats::new(800, 10_000); let fresh = ArmStats::new(2, 25);
    for seed in 0..50u64 {
        let mut rng = ExploreRng::new(seed);
        let (mut k, mut f) = (0, 0);
        for _ in 0..2000 { let v = ExplorePolicy::THOMPSON.arm_values(&[best, known, fresh], &mut rng).unwrap(); k += (v[1] > v[0]) as usize; f += (v[2] > v[0]) as usize; }
        if seed < 3 || k > 5 || f < 600 { println!("seed {seed}: known {k} fresh {f}"); }
    }
}

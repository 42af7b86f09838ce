/* compute seimlip/atom [force|energy]: per-atom model deviation for dumps and fix halt. */
#ifndef SEIMLIP_COMPUTE_SEIMLIP_ATOM_H
#define SEIMLIP_COMPUTE_SEIMLIP_ATOM_H

#include "compute.h"

#include <string>

namespace LAMMPS_NS {

class PairSeimlip;

class ComputeSeimlipAtom : public Compute {
 public:
  ComputeSeimlipAtom(class LAMMPS *, int, char **);
  ~ComputeSeimlipAtom() override;
  void init() override;
  double compute_scalar() override;
  void compute_vector() override;
  void compute_peratom() override;
  double memory_usage() override;

 private:
  PairSeimlip *pair = nullptr;
  int nmax = 0;
  double *dev = nullptr;
  double values[2] = {0.0, 0.0};
  std::string mode;
  bool energy_mode = false;  // per-atom energy spread instead of the committee's force deviation
  const double *source() const;
  void check_current();
};

}  // namespace LAMMPS_NS

#endif

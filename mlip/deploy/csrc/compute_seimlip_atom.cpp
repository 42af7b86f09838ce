/* compute ID group seimlip/atom

   Per-atom vector: the committee's force deviation sqrt(mean_k |F_k - <F>|^2) (eV/A) of each atom
   (0 outside the group). Global scalar: its maximum over the group. Global vector:
   [1] = max force deviation over the group, [2] = std of the committee's total energies (eV).
   Needs pair_style seimlip with a committee model; the values are those of the latest force
   evaluation, so they are current in dumps, thermo output and fix halt on every step. */

#include "compute_seimlip_atom.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "update.h"

#include "pair_seimlip.h"

#include <algorithm>

using namespace LAMMPS_NS;

ComputeSeimlipAtom::ComputeSeimlipAtom(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg)
{
  if (narg != 3) error->all(FLERR, "Illegal compute seimlip/atom command: compute ID group seimlip/atom");
  peratom_flag = 1;
  size_peratom_cols = 0;
  scalar_flag = 1;
  vector_flag = 1;
  size_vector = 2;
  extscalar = 0;
  extvector = 0;
}

ComputeSeimlipAtom::~ComputeSeimlipAtom()
{
  memory->destroy(dev);
}

void ComputeSeimlipAtom::init()
{
  pair = dynamic_cast<PairSeimlip *>(force->pair_match("seimlip", 1));
  if (!pair) error->all(FLERR, "compute seimlip/atom requires pair_style seimlip");
  if (pair->n_members() < 2)
    error->all(FLERR, "compute seimlip/atom needs a committee model (this model has one member); "
               "export several models into one file with `seimlip deploy`");
}

void ComputeSeimlipAtom::check_current()
{
  if (pair->last_step != update->ntimestep)
    error->all(FLERR, "compute seimlip/atom: the force deviation is only available on steps when "
               "pair_style seimlip computed forces");
}

double ComputeSeimlipAtom::compute_scalar()
{
  invoked_scalar = update->ntimestep;
  compute_vector();
  scalar = values[0];
  return scalar;
}

void ComputeSeimlipAtom::compute_vector()
{
  invoked_vector = update->ntimestep;
  check_current();
  const double *fdev = pair->force_dev();
  const int *mask = atom->mask;
  double local_max = 0.0;
  for (int i = 0; i < atom->nlocal; i++)
    if (mask[i] & groupbit) local_max = std::max(local_max, fdev[i]);
  MPI_Allreduce(&local_max, &values[0], 1, MPI_DOUBLE, MPI_MAX, world);
  values[1] = pair->energy_std;
  vector = values;
}

void ComputeSeimlipAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;
  check_current();
  if (atom->nmax > nmax) {
    memory->destroy(dev);
    nmax = atom->nmax;
    memory->create(dev, nmax, "seimlip/atom:dev");
    vector_atom = dev;
  }
  const double *fdev = pair->force_dev();
  const int *mask = atom->mask;
  for (int i = 0; i < atom->nlocal; i++) dev[i] = (mask[i] & groupbit) ? fdev[i] : 0.0;
}

double ComputeSeimlipAtom::memory_usage()
{
  return (double) nmax * sizeof(double);
}
